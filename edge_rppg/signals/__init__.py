"""Signal processing with no video and no model in it: filters, heart rate and beats, vitals and their quality,
the paper's metrics and the classic rPPG methods."""
