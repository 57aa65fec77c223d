"""Chinese bank open platforms that sign with SM2 and encrypt with SM4 (``cn_bank_sm``)."""
