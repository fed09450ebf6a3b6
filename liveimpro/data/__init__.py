"""Offline: corpora, prepared datasets, evaluation and what the trainers share.

    scores        ABC / MusicXML / kern through music21, with size limits checked first
    corpus        finding melody files, reading them in parallel, caching what was read
    dataset       the prepared training data on disk: splits, tokenizers, token arrays
    baselines     uniform, unigram and PPM predictors over the model's tokens
    scoring       bits per note of token sequences under predictors
    evaluation    evaluate_model: a model folder against the baselines on a corpus
    training      what scripts/train_lstm.py and scripts/train_vae.py share
    tune_batches  whole tokenized tunes as batches for the LSTM, and its loss
"""
