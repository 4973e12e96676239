"""Tests of zsb.data (a package so that helper modules import relatively and test names stay unique)."""
