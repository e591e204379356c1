"""The reference point-of-sale stack, built only on kugel_common's public API."""
