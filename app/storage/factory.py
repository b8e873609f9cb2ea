from __future__ import annotations

from app.config import Settings
from app.storage.base import Storage
from app.storage.local import LocalStorage


def build_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        # Imported here: botocore costs tens of megabytes, which a local-storage instance does not need.
        from app.storage.s3 import S3Storage

        if not settings.s3_bucket:
            raise ValueError("S3_BUCKET is required with STORAGE_BACKEND=s3")
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key.get_secret_value()
            if settings.aws_secret_access_key
            else None,
        )
    return LocalStorage(settings.resolved_storage_dir)
