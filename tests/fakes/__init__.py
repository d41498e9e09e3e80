"""Fake pyannoteAI and Deepgram servers: real HTTP on loopback, answering as the APIs document."""
