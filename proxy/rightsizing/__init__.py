"""Right-sizing: which calls a smaller model (or a fine-tuned classifier) would serve, with
evidence. Configuration (`config`), candidate estimates (`candidates`), answer comparison
(`compare`), shadow evaluation (`shadow`), agreement statistics (`agreement`) and the
opt-in routing policy (`policy`)."""
