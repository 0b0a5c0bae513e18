"""Fixed feature maps (embedders) for image and text specs.

Each embedder has an identity string (name, version, hash of its weights) that goes into every
spec it produced; specs from different embedders are never compared. torch (and for text,
sentence-transformers) are imported only inside these modules' functions, so `import specs`
stays light.
"""
