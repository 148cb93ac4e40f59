import sys, torch, numpy as np
sys.path.insert(0,'/tmp/fp/hs')
from PIL import Image
import importlib.util
spec=importlib.util.spec_from_file_location('mv2','/tmp/fp/hs/models/modelv2.py',submodule_search_locations=[])
# import blocks relative: emulate package
import types
pkg=types.ModuleType('hsmodels'); pkg.__path__=['/tmp/fp/hs/models']; sys.modules['hsmodels']=pkg
from hsmodels.modelv2 import MobileHairNetV2
net=MobileHairNetV2(); sd=torch.load('/tmp/fp/hs/checkpoints/best.pth',map_location='cpu')
print(type(sd), list(sd.keys())[:5] if isinstance(sd,dict) else '')
st=sd['state_dict'] if 'state_dict' in sd else sd
print(net.load_state_dict(st)); net.eval()
outs=[]
for p in sys.argv[1:]:
    im=Image.open(p).convert('RGB')
    x=torch.from_numpy(np.asarray(im.resize((224,224),Image.BILINEAR),dtype=np.float32)/255.).permute(2,0,1)
    x=(x-0.5)/0.5
    with torch.no_grad(): y=net(x[None])
    m=y.softmax(1)[0,1].numpy()
    mk=Image.fromarray((m*255).astype(np.uint8)).resize(im.size)
    ov=np.asarray(im).astype(float); ov[...,0]=np.maximum(ov[...,0],np.asarray(mk))
    outs.append(Image.fromarray(ov.astype(np.uint8)).resize((240,296)))
c=Image.new('RGB',(240*len(outs),296))
for i,o in enumerate(outs): c.paste(o,(i*240,0))
c.save('/tmp/explore_hair.png')
