"""package: the appended zip, the args file, pack.py and comparing packages."""
