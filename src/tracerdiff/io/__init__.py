"""Readers: vendor and plain files -> one labelled image/profile type (:mod:`tracerdiff.io.image`)."""

from tracerdiff.io.image import LI6, LI7, make_image, make_profile, metadata

__all__ = ["LI6", "LI7", "make_image", "make_profile", "metadata"]
