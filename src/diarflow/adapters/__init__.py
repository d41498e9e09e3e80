"""Adapters: object stores, remote API clients, diarizers, the voiceprint registry."""
