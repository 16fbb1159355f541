from django.conf import settings
from django.db import models
from django.utils import timezone


class Invitation(models.Model):
    """A clinician invited by the research team. The link's token is never stored: it is
    derived from the account's state (Django's password-reset tokens), so it stops working
    once the password is set, and after ``expires_at``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        return "expired" if self.expires_at <= timezone.now() else "pending"
