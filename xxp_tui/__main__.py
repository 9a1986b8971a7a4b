from xxp_tui.cli import main

main()
