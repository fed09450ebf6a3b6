"""The next-note LSTM and its companions at run time.

    network      NextTokenLSTM (trained) and CachedStepLSTM (one step per note, explicit state)
    folder       the LSTM's model folder: load_model_folder / save_model_folder
    quantized    the int8 step the live engine runs (made at load from the float32 weights)
    improviser   Improviser: observe / propose / commit, one model step per note
    ppm          Prediction by Partial Match, the Continuator's variable-order Markov model
    adapt        AdaptiveMixer: a short-term PPM of the session mixed into the LSTM's proposals
"""
