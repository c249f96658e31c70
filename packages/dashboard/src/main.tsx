import { render } from 'preact'
render(<p>weft</p>, document.getElementById('app')!)
