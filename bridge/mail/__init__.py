"""Pure mail handling: bytes to Mail values, cleaning, classifying, threading rules."""
