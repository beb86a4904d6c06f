"""Building the face models from registry packages (`build`, `sources`, one module per model family),
evaluating them on a labelled set (`evaluate`) and writing their calibration into the model card
(`calibrate`)."""
