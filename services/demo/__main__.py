from services.demo.main import main

raise SystemExit(main())
