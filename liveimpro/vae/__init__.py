"""The melody VAE (after MusicVAE): variations, morphs and samples of whole phrases.

    steps        a melody as windows of 16th-note steps (rest, hold, pitch)
    network      the VAE: encoder, hierarchical or flat decoder
    folder       its model folder: weights.pt, representation.json, card.json
    melody_vae   MelodyVAE: encode, decode, sample, interpolate, vary, morph
"""
