"""Export a REMBI `Study`: RO-Crate 1.2, schema.org JSON-LD, DataCite, Zenodo, InvenioRDM.

- `to_rocrate`: an RO-Crate 1.2 directory or zip (files copied with checksums).
- `to_jsonld`: schema.org ``Dataset`` JSON-LD in the GIDE search profile's shape.
- `to_datacite`: DataCite REST ``data.attributes``, validated against DataCite 4.5
  (`validate_datacite` checks any attributes).
- `to_zenodo`: Zenodo legacy deposit ``metadata``.
- `to_invenio`: an InvenioRDM draft (``metadata``, ``access``, ``files``).

Each raises `bioshare.errors.MetadataError` naming the Study field to fill when a value its
target requires is missing.
"""

from bioshare.metadata.exports.datacite import to_datacite, validate_datacite
from bioshare.metadata.exports.invenio import to_invenio, to_zenodo
from bioshare.metadata.exports.jsonld import to_jsonld
from bioshare.metadata.exports.rocrate import to_rocrate

__all__ = [
    "to_datacite",
    "to_invenio",
    "to_jsonld",
    "to_rocrate",
    "to_zenodo",
    "validate_datacite",
]
