"""Configuration: read once, validated as a whole, into typed sections; secret references."""
