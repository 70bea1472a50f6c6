"""The answer of GET /browse."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from filegate.browse.cursor import encode_cursor
from filegate.storage.base import FolderEntry, FolderPage


class BrowseEntry(BaseModel):
    name: str = Field(description="The name within the folder.", examples=["2023.pdf"])
    path: str = Field(
        description="Relative to the store's root, without a leading '/': what POST /download takes.",
        examples=["reports/2023.pdf"],
    )
    type: Literal["folder", "file"]
    size: int | None = Field(
        description="A file's size in bytes. Always null for a folder: folder sizes are not "
        "computed, as adding up a subtree would mean listing all of it.",
        examples=[48213],
    )
    modified: datetime | None = Field(
        description="When it last changed (ISO 8601, UTC); null for a folder where the store keeps "
        "no date (S3).",
    )
    version: str | None = Field(
        description="Tells one content of a file from another: the ETag on S3, size, "
        "modification time and inode on the local store. Null for a folder.",
    )

    @classmethod
    def of(cls, entry: FolderEntry) -> BrowseEntry:
        return cls(
            name=entry.name,
            path=entry.path,
            type="folder" if entry.is_dir else "file",
            size=entry.size,
            modified=entry.modified,
            version=entry.version,
        )


class FolderListing(BaseModel):
    path: str = Field(description="The folder listed, normalised; '' is the root.", examples=["reports"])
    entries: list[BrowseEntry] = Field(
        description="Folders first, then files. Files sort by name; folders by name followed by "
        "'/' (the order S3 keeps), so 'a-b' comes before 'a'."
    )
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page. Entries added "
        "or removed meanwhile do not make others repeat or go missing."
    )

    @classmethod
    def of(cls, folder: str, page: FolderPage) -> FolderListing:
        return cls(
            path=folder,
            entries=[BrowseEntry.of(entry) for entry in page.entries],
            next_cursor=None if page.next is None else encode_cursor(folder, page.next),
        )
