"""Publish datasets with DOIs: local RO-Crates, Zenodo, any InvenioRDM, DataCite."""
