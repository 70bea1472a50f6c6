"""Sources and outputs behind one interface; ``build_storage`` picks the backend."""

from __future__ import annotations

from filegate.settings import Settings, StorageKind
from filegate.storage.base import SourceChanged, SourceEntry, Storage, StoredOutput
from filegate.storage.local import LocalStorage
from filegate.storage.s3 import S3Storage, make_client

__all__ = ["SourceChanged", "SourceEntry", "Storage", "StoredOutput", "build_storage"]


def build_storage(settings: Settings) -> Storage:
    if settings.storage is StorageKind.S3:
        return S3Storage(
            client=make_client(
                settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region
            ),
            public_client=make_client(
                settings.effective_s3_public_endpoint,
                settings.s3_access_key,
                settings.s3_secret_key,
                settings.s3_region,
            ),
            source_bucket=settings.s3_source_bucket,
            output_bucket=settings.s3_output_bucket,
            part_size=settings.s3_part_size,
            upload_concurrency=settings.s3_upload_concurrency,
            small_files_fetched_ahead=settings.s3_fetch_ahead,
            server_copy_min_size=settings.s3_server_copy_min_size if settings.s3_server_copy else None,
            probe_client=make_client(
                settings.s3_endpoint,
                settings.s3_access_key,
                settings.s3_secret_key,
                settings.s3_region,
                probe=True,
            ),
        )
    return LocalStorage(
        root=settings.local_root,
        output_dir=settings.output_dir,
        public_url=settings.effective_public_url,
        signing_secret=settings.signing_secret,
    )
