from bioshare.demo import main

raise SystemExit(main())
