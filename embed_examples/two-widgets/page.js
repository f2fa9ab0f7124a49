// Two widgets declared through the API; calls name the widget they are for.
window.cvi = window.cvi || function () { (cvi.q = cvi.q || []).push(arguments); };
cvi('init', {widget: 'support', mode: 'inline', target: '#support-call'});
cvi('init', {widget: 'sales', position: 'bottom-left'});
cvi('on', 'conversation.started', function (e) { document.title = 'In a call with ' + e.widget; });
document.getElementById('sales').addEventListener('click', function () { cvi('start', {widget: 'sales'}); });
