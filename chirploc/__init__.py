"""chirploc: find and describe chirps in spectrograms and recordings.

    >>> import chirploc
    >>> result = chirploc.describe("recording.wav")
    >>> result.sentence, [c.t_start_s for c in result.chirps]

See :func:`chirploc.describe.describe` and :func:`chirploc.describe.describe_many`.
"""

__version__ = "0.2.0"

from chirploc.describe import Chirp, Description, describe, describe_many

__all__ = ["Chirp", "Description", "describe", "describe_many"]
