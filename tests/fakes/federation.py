"""Every public repository's fake at once, with the environment that points bioshare at them.

Used by the federated-search tests and ``benchmarks/search.py``::

    with public_fakes(tmp_path) as federation:
        os.environ.update(federation.env)
        bioshare.search("nuclei")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fakes import bia, empiar, idr, ssbd, tcia, zenodo_records
from fakes.service import FakeService

__all__ = ["Federation", "public_fakes"]


@dataclass
class Federation:
    """The running fakes by repository name, and the ``BIOSHARE_*_URL`` settings for them."""

    fakes: dict[str, FakeService]
    env: dict[str, str]

    def clear(self) -> None:
        for fake in self.fakes.values():
            fake.clear_faults()
            fake.clear_log()


@contextlib.contextmanager
def public_fakes(root: Path) -> Iterator[Federation]:
    """Start fake IDR, BIA, Zenodo, EMPIAR, SSBD and TCIA services, with data under ``root``.

    The first five serve real OME-Zarr; TCIA serves synthetic DICOM series.
    """
    (root / "zenodo").mkdir(parents=True, exist_ok=True)
    zarr_zip = zenodo_records.build_ome_zarr_zip(root / "zenodo")
    fakes: dict[str, FakeService] = {
        "idr": idr.FakeIDR(idr.build_zarr_tree(root / "idr")),
        "bia": bia.FakeBIA(bia.build_bia_zarr(root / "bia", bia.seed_studies())),
        "zenodo": zenodo_records.FakeZenodoRecords(zenodo_records.seed({zarr_zip.key: zarr_zip})),
        "empiar": empiar.FakeEMPIAR(empiar.build_files(root / "empiar")),
        "ssbd": ssbd.FakeSSBD(ssbd.build_zarr_tree(root / "ssbd")),
        "tcia": tcia.FakeTCIA(tcia.seed(root / "tcia")),
    }
    with contextlib.ExitStack() as stack:
        for fake in fakes.values():
            stack.enter_context(fake)
        urls = {name: fake.url for name, fake in fakes.items()}
        env = {
            "BIOSHARE_IDR_URL": urls["idr"],
            "BIOSHARE_IDR_ZARR_URL": urls["idr"],
            "BIOSHARE_BIA_URL": f"{urls['bia']}/bioimage-archive/api",
            "BIOSHARE_BIOSTUDIES_URL": f"{urls['bia']}/biostudies/api/v1",
            "BIOSHARE_BIA_ZARR_URL": f"{urls['bia']}/bioimaging-integrator-data",
            "BIOSHARE_ZENODO_URL": urls["zenodo"],
            "BIOSHARE_EMPIAR_URL": f"{urls['empiar']}/empiar/api",
            "BIOSHARE_EBISEARCH_URL": f"{urls['empiar']}/ebisearch/ws/rest",
            "BIOSHARE_EMPIAR_FILES_URL": f"{urls['empiar']}/files",
            "BIOSHARE_SSBD_URL": f"{urls['ssbd']}/SSBD",
            "BIOSHARE_TCIA_URL": f"{urls['tcia']}{tcia.API}",
        }
        yield Federation(fakes, env)
        for fake in fakes.values():  # release hung requests before the servers stop
            fake.clear_faults()
