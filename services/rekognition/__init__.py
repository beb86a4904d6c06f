"""The Rekognition-compatible endpoint: AWS SDK programs talk to Lineup through it (docs/rekognition.md)."""
