"""socialcredit: rate persons and organisations from furnished records, with exact explanations,
due process, and the features that exist to punish speech or relatives refused by design."""

__version__ = "0.1.0"
