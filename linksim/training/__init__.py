"""Training loops and their configs (``linksim train <model> --config FILE``)."""
