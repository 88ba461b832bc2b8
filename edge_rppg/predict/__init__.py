"""A video's path to vitals: its frames, the face crops, the model's windows, the heart rate and the files."""
