from django.db import models


class LoginThrottle(models.Model):
    """Login attempts counted per client address or user name (sdi/security.py), in the
    database so that every web process sees one count."""

    key = models.CharField(max_length=80, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()

    def __str__(self):
        return f"{self.key}: {self.count}"
