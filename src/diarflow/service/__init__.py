"""The HTTP service: Inngest functions at ``/api/inngest``, health, and the pyannoteAI webhook.

Import :func:`diarflow.service.app.create_app` to build it; this package
imports nothing heavy itself, so ``diarflow trigger`` can use
:mod:`diarflow.service.events` without loading FastAPI.
"""
