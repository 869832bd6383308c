"""`scowspec doctor`: is this project ready for its portal? Pure judgements (`checks`) and the probe (`probe`)."""
