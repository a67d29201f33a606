"""Media storage that never leaves a partial file behind.

Django's FileSystemStorage writes straight into the final name; when the disk fills up halfway
(or the process dies), a truncated file stays there under a real name and a model may point at
it. Here the content goes to a hidden temporary file in the same directory, is flushed to disk,
and only then gets its final name (a hard link, which fails rather than overwrite). Any error
removes the temporary file. A full disk raises StorageFull, which the error handler turns into
a clear 507 (sdi.errors).
"""

import errno
import os
import tempfile

from django.core.files.storage import FileSystemStorage

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class StorageFull(OSError):
    """No space left for the file; nothing was written."""


class AtomicFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True, mode=self.directory_permissions_mode or 0o777)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                if hasattr(content, "seek") and content.seekable():
                    content.seek(0)
                for chunk in content.chunks():
                    out.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                out.flush()
                os.fsync(out.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(tmp, self.file_permissions_mode)
            while True:
                try:
                    os.link(tmp, full_path)
                    break
                except FileExistsError:
                    # Someone took the name meanwhile: pick another, as Django does.
                    name = self.get_available_name(name)
                    full_path = self.path(name)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise StorageFull(exc.errno, f"no space left to store {name!r}; "
                                  "nothing was saved") from exc
            raise
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        return str(name).replace("\\", "/")
