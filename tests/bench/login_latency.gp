# Login latency against the number of users stored, drawn from pdsync_bench --plot-data.
# deploy/bench.sh --plot runs it:
#   gnuplot -e "data='login_latency.tsv'; out='docs/login_latency.png'" tests/bench/login_latency.gp
if (!exists("data")) data = 'login_latency.tsv'
if (!exists("out")) out = 'login_latency.png'
set terminal pngcairo size 960,560 font ',11'
set output out
set title 'pdsync login → ready against users stored (loopback, this machine)'
set xlabel 'users stored on the server'
set ylabel 'milliseconds'
set logscale x
set logscale y
set format x '%.0s%c'
set grid xtics ytics mytics
set key below
set autoscale xfix
set offsets graph 0.06, graph 0.06, 0, 0
plot data using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'daemon p50', \
     data using 1:3 with linespoints lw 2 pt 5 dt 2 lc rgb '#1f77b4' title 'daemon p99', \
     data using 1:4 with linespoints lw 2 pt 7 lc rgb '#2ca02c' title 'simulated device p50', \
     data using 1:5 with linespoints lw 2 pt 5 dt 2 lc rgb '#2ca02c' title 'simulated device p99', \
     data using 1:6 with linespoints lw 2 pt 7 lc rgb '#7f7f7f' title 'raw SUBSCRIBE → retained p50', \
     data using 1:7 with linespoints lw 2 pt 5 dt 2 lc rgb '#7f7f7f' title 'raw SUBSCRIBE → retained p99'
