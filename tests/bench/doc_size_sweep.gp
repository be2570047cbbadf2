# Figure f) server cost per change against address-book size, drawn from pdsync_bench
# --sweep-data. deploy/bench.sh runs it after every run that includes the sweep:
#   gnuplot -e "data='doc_size_sweep.tsv'; out='docs/doc_size_sweep.png'" tests/bench/doc_size_sweep.gp
if (!exists("data")) data = 'doc_size_sweep.tsv'
if (!exists("out")) out = 'doc_size_sweep.png'
set terminal pngcairo size 960,560 font ',11'
set output out
set title 'pdsync server cost per change against address-book size (loopback, this machine)'
set xlabel 'address-book entries'
set ylabel 'server CPU per change (µs)'
set y2label 'server bytes sent per edit (KiB)'
set logscale x
set logscale y
set logscale y2
set ytics nomirror
set y2tics
set grid xtics ytics
set key below
set offsets graph 0.06, graph 0.06, 0, 0
plot data using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'CPU per acked change, 10 devices × 16 in flight', \
     data using 1:3 with linespoints lw 2 pt 5 lc rgb '#2ca02c' title 'CPU per paced edit', \
     data using 1:6 axes x1y2 with linespoints lw 2 pt 9 dt 2 lc rgb '#7f7f7f' title 'bytes the server sent per edit (right axis)'
