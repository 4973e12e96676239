"""Faults the tests inject."""


class FailingWrite:
    """A file whose write stores half of the data and then fails, like a disk filling up or a crash mid-write."""

    def __init__(self, file, error: BaseException):
        self.file, self.error = file, error

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise self.error

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()
