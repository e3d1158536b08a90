"""WhiteNoise with a year's cache for fingerprinted files (its own default
is ten years; a year is what HTTP caches honour and RFC 9111 suggests as
the ceiling). See docs/static.md."""

from whitenoise.middleware import WhiteNoiseMiddleware

ONE_YEAR = 365 * 24 * 60 * 60


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    FOREVER = ONE_YEAR
