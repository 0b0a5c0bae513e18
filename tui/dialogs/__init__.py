"""Modal dialogs: errors, confirmations, a path prompt, a file picker."""
