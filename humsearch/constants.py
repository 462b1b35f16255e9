"""The one place for numbers shared across modules (units in the names or comments)."""

# Audio the melody model hears.
MELODY_SAMPLE_RATE = 16_000  # Hz
N_FFT = 2048  # samples: 128 ms, enough to separate semitones above ~100 Hz
HOP_LENGTH = 640  # samples: 40 ms per frame
FRAMES_PER_SECOND = MELODY_SAMPLE_RATE / HOP_LENGTH  # 25 fps

# Log-frequency axis: 2 bins per semitone, MIDI pitch numbers.
BINS_PER_SEMITONE = 2
SPEC_MIDI_LOW = 28  # E1, 41 Hz: one octave below the lowest pitch we track (sub-harmonic channel)
SPEC_MIDI_HIGH = 116  # G#8 area, 6.6 kHz: room for the 5th harmonic of the top pitch
PITCH_MIDI_LOW = 40  # E2, 82 Hz: a low male hum
PITCH_MIDI_HIGH = 88  # E6, 1.3 kHz: whistling and high sopranos
N_PITCH_BINS = (PITCH_MIDI_HIGH - PITCH_MIDI_LOW) * BINS_PER_SEMITONE  # 96

# PANNs Cnn14 (AudioSet tagging network).
PANNS_SAMPLE_RATE = 32_000  # Hz
PANNS_DIMS = 2048

# Segmenting songs and queries.
WINDOW_S = 10.0  # seconds per indexed segment
HOP_S = 2.0  # seconds between segment starts
MIN_QUERY_S = 2.0  # shorter queries cannot carry a melody
SILENCE_RMS = 1e-3  # RMS below this (full scale = 1.0) counts as silence

AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aiff", ".aif", ".opus")
