# Sourced by the bench scripts: writes the job file they share, $OUT/job.toml:
# $CLIP's first $FRAMES frames at $SIZE px, starry_night, SqueezeNet, CPU.
write_job() {
  mkdir -p "$OUT"
  cat > "$OUT/job.toml" <<TOML
[input]
path = "$PWD/$CLIP"
size = $SIZE
max_frames = $FRAMES
[style]
images = ["$PWD/tests/data/starry_night.jpg"]
[model]
name = "squeezenet"
[run]
device = "cpu"
print_every = 0
TOML
}
