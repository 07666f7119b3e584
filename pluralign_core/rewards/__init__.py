"""Stage 5, group reward models: how a group of raters would score a response on one dimension."""
