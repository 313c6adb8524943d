"""Small helpers every room uses: atomic writes (`atomic`), sha256 (`hashing`), console output (`console`)."""
