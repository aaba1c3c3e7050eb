"""`bioshare serve`: a folder of OME-Zarr datasets as a small HTTP repository."""

from bioshare.server.app import BackgroundServer, create_app, serve

__all__ = ["BackgroundServer", "create_app", "serve"]
