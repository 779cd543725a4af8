"""The synthetic city generator: a deterministic population of subjects, furnishers and records."""

from socialcredit.synth.city import FORMATS, FURNISHERS, REGIONS, City, generate_city, write_city

__all__ = ["FORMATS", "FURNISHERS", "REGIONS", "City", "generate_city", "write_city"]
