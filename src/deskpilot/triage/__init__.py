"""The AI resolution engine: answer from the KB, calibrate confidence, decide, run on tickets."""
