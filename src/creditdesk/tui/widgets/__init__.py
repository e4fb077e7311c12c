"""Small reusable dashboard pieces: header, role gate, error note, balance bar, member table."""
